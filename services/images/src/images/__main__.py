from images.main import main

main()
