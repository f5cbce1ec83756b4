"""The application: settings, the bootstrap that wires everything, and the CLI."""
