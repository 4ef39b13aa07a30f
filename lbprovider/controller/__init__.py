"""The service controller: selection, the desired model, sync and node sync."""
