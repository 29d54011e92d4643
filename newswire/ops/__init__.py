"""Operations: settings, index setup and reindex, processes, health and metrics."""
