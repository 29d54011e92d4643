"""Stories (copies, re-posts, translations of one text): state, service, CLI and API."""
