"""The newsroom web app: server-rendered search, story, alerts and feed-health pages."""
