"""Jobs around the model: train and publish a version, inspect it, start the server."""
