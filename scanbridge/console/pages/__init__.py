"""One module per console page; each has `routes(console)`."""
