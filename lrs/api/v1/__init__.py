"""The query API: learner profiles and, later, competency status; OpenAPI-described."""
