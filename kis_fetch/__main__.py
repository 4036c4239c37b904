from kis_fetch.cli import main

main()
