"""Writes of the subscribers app: consent (subscribe, unsubscribe, the privacy notice), inbound
(citizens' messages and the replies they earn) and delivery (what Meta's answers tell us about a
citizen's number)."""
