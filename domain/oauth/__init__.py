"""OAuth 2.1 sign-in for remote MCP clients: registered clients, grants (a user's consent), authorization codes
and access and refresh tokens, of which only SHA-256 hashes are stored."""
