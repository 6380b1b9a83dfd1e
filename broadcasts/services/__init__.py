"""Writes of the broadcasts app, one module per concern: authoring (drafts, test sends,
templates), fanout (starting due broadcasts, making their Delivery rows), sending (claiming and
sending rows under the rate limit), statuses (Meta's delivery statuses applied), recovery (what
a lost worker or task left behind). Lifecycle steps are in `broadcasts.lifecycle`."""
