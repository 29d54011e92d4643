"""The entity registry: one id per person, organisation and place across the corpus."""
