"""HTTP layer: app factory, routers, dependencies. Holds no conversation state."""
