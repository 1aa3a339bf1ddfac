"""Stock reservations for the order service: reserve (all-or-nothing, idempotent per order)
and release (gives back exactly what an order took, once)."""
