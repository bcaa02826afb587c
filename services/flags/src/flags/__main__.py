from flags.main import main

main()
