"""The claimwatch service: CLI, configuration, IMAP and drop-folder sources, spool, processing."""
