from usages.main import main

main()
