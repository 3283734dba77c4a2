"""Generated from proto/*.proto by scripts/gen-proto. Do not edit."""
