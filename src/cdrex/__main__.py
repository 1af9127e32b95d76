from cdrex.cli import main

main(prog_name="cdrex")  # not "python -m cdrex" in usage lines
