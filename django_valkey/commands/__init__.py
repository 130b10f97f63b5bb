"""Command mixins that clients combine (the hash flavour of HashClient)."""
