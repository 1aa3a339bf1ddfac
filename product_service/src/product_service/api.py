"""Every router of the product service: the catalogue's and the stock's."""

from product_service.catalogue.api import internal_router, public_router
from product_service.stock.api import stock_router

__all__ = ["routers"]

routers = [public_router, internal_router, stock_router]
