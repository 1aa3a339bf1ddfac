"""Shared infrastructure for the shop services: settings, database, errors, HTTP plumbing.

This package never imports a service; the services import it.
"""
