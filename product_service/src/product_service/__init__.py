"""The product service: the catalogue, its Redis cache, and stock reservations for orders."""
