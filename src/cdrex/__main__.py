from cdrex.cli import main

main()
