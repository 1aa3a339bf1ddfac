"""The internal contract between the services (docs/api.md, "Internal calls").

One module per callee: the pydantic models of its internal requests and responses, which
the callee's internal routes use, and the typed client its callers use. Imported by the
services, never by `shop_common`.
"""
