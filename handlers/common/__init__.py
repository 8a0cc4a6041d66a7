"""Code shared by the handlers, and the conventions the generator and the handlers must agree on."""
