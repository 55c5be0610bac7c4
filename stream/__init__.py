"""The wire format of /ws/stream: message builders, client filters, and the client-side
decoder that Python clients (the tests, the benches) use."""
