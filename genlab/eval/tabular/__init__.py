"""genlab.eval.tabular"""
