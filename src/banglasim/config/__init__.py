"""What the pipeline is told: the params schema read into typed frozen dataclasses, every path,
and the check_params stage that validates params.yaml before any other stage runs.
"""
