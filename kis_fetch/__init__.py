"""kis-fetch: bulk prices and daily history from the KIS Open API."""

__version__ = "0.1.0"
