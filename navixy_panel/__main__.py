from navixy_panel.cli import main

main()
