from profiles.main import main

main()
