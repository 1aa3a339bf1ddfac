"""The order service: orders placed as a saga over the product service's stock."""
