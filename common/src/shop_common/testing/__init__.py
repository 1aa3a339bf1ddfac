"""Pytest helpers the services share: throw-away databases, Redis clean-up, app clients."""
