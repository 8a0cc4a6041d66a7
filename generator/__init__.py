"""Generates the EC2 Patching Orchestrator's CloudFormation templates (hub and spoke) with troposphere."""
