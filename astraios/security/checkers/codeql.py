"""placeholder"""
from astraios.security.base import Checker
class CodeQL(Checker):
    name = "codeql"; languages = ("python", "c")
    def __init__(self, codeql=None, codeql_home=None, custom_ql=None): pass
    def rules_for(self, scenario): return (scenario.query_name,)
    def unavailable(self): return "codeql not found"
    def analyse(self, targets): raise NotImplementedError
