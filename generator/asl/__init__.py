"""A typed Amazon States Language builder: states, chains, graph validation, diagrams and the patch workflow."""
