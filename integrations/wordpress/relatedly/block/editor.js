/**
 * The block in the editor: a placeholder and its two settings. Plain JavaScript on WordPress's own
 * globals (no JSX, no build step); the block is dynamic, rendered by PHP on the page.
 */
( function ( wp ) {
	var el = wp.element.createElement;
	var __ = wp.i18n.__;
	var blockEditor = wp.blockEditor;
	var components = wp.components;

	wp.blocks.registerBlockType( 'relatedly/related', {
		edit: function ( props ) {
			var attributes = props.attributes;
			return el(
				'div',
				blockEditor.useBlockProps( { className: 'relatedly-placeholder' } ),
				el(
					blockEditor.InspectorControls,
					null,
					el(
						components.PanelBody,
						{ title: __( 'Related stories', 'relatedly' ) },
						el( components.RangeControl, {
							label: __( 'Stories', 'relatedly' ),
							min: 1,
							max: 50,
							value: attributes.limit,
							allowReset: true,
							onChange: function ( value ) {
								props.setAttributes( { limit: value } );
							},
						} ),
						el( components.TextControl, {
							label: __( 'Heading', 'relatedly' ),
							value: attributes.heading || '',
							onChange: function ( value ) {
								props.setAttributes( { heading: value } );
							},
						} )
					)
				),
				el(
					components.Placeholder,
					{
						icon: 'list-view',
						label: attributes.heading || __( 'Related stories', 'relatedly' ),
						instructions: __( 'Relatedly shows this post\'s related stories here on the published page.', 'relatedly' ),
					}
				)
			);
		},
		save: function () {
			return null;
		},
	} );
} )( window.wp );
