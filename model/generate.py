def add_cli_commands(sub):
    pass
