"""What every agentwire service imports: wire schemas, subjects, errors, settings, the NATS bus."""
