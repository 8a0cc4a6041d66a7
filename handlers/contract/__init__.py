"""The contract between the generator and the handlers: what both sides must agree on, written once.

Names and conventions, error names, the run table's keys and statuses, the run document, and each function's
environment. Nothing here imports boto3 or Powertools (a test holds it to that), so the generator builds the
templates from these definitions with only its own dependencies installed, and the handlers read the same
definitions at run time from the handler package.
"""
