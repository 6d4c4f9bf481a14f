"""What an HTTP message means, apart from any stage: bodies, encodings, endpoints, sessions."""
