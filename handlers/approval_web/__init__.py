"""The approval web UI behind ApprovalPage and ApprovalDecision, and what RequestApproval sends: signed links,
the HTTP side, pages and emails, and who may receive links."""
