"""genlab.data.tabular"""
