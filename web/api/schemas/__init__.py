"""marshmallow schemas of the API's requests and responses (payload schemas are the domain's)."""
