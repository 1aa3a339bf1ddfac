"""product_service."""
