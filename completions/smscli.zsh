#compdef smscli

_smscli_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _SMSCLI_COMPLETE=complete_zsh smscli)
}

compdef _smscli_completion smscli
