//! Argument keywords, parsed as tokens so errors can point at the key.

syn::custom_keyword!(topic);
syn::custom_keyword!(schema);
syn::custom_keyword!(namespace);
syn::custom_keyword!(group_id);
syn::custom_keyword!(key_config);
syn::custom_keyword!(none);
syn::custom_keyword!(plain);
syn::custom_keyword!(field);
syn::custom_keyword!(payload);
syn::custom_keyword!(hooks);
