"""The agent task suite (issue 16 item 7): office tasks a teacher, registrar, bursar, payroll officer and principal
would ask, run against a model through the product's agent loop on a fresh demo school each, and graded on the
database's final state and the answer. `mcs-erp eval` runs it (evals/runner.py); tests/evals runs every task with
its scripted policy (evals/scripted.py) on a scripted model speaking the providers' wire formats."""
