from cars.main import main

main()
