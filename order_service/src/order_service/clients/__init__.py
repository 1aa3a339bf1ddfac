"""Typed HTTP clients of the services the order service calls."""
